use std::{fmt, sync::Arc, time::Duration};

use plg_domain::{
    Aggregate, event,
    person::{Person, PersonEvent},
};
use plg_eventstore::{
    AppendOutcome, AppendRequest, Direction, EventStore, IdempotencyKey, Position, ReadFrom,
    RecordedEvent, StoreError, StreamName, StreamRevision, chain::ChainVerifier,
};
use plg_vault::Vault;
use tokio::sync::watch;

use crate::{
    ServiceError,
    cache::{DEFAULT_CAPACITY, StateCache},
};

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
    /// Aggregate states between commands, so a load reads only what its stream gained since.
    states: Arc<StateCache>,
    /// The same for states that grant rights, each with its stream's chain verified so far.
    verified_states: Arc<StateCache>,
}

impl Ledger {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            research_view: None,
            vault: None,
            states: Arc::new(StateCache::new(DEFAULT_CAPACITY)),
            verified_states: Arc::new(StateCache::new(DEFAULT_CAPACITY)),
        }
    }

    /// Seals personal data with each subject's key before it reaches the log.
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
    /// hold any), so the stream names the key. Sealing may create the key and wait for its
    /// commit (with others queued alongside), so it runs on a blocking thread; a document
    /// without personal data never leaves this one.
    pub(crate) async fn seal(
        &self,
        stream: &StreamName,
        mut data: serde_json::Value,
    ) -> Result<serde_json::Value, ServiceError> {
        let Some(vault) = self
            .vault
            .clone()
            .filter(|_| plg_vault::holds_personal_data(&data))
        else {
            return Ok(data);
        };
        let subject = stream.to_string();
        tokio::task::spawn_blocking(move || vault.seal(&subject, &mut data).map(|()| data))
            .await
            .map_err(|error| ServiceError::failed("sealing did not finish", error))?
            .map_err(|error| ServiceError::failed("sealing personal data", error))
    }

    /// Destroys the keys of people whose erasure the log records but whose key survived: a
    /// crash between recording an erasure and destroying the key. Run before serving.
    /// Returns how many erasures it finished.
    pub async fn finish_erasures(&self) -> Result<usize, ServiceError> {
        let Some(vault) = self.vault.clone() else {
            return Ok(0);
        };
        let subjects = tokio::task::spawn_blocking(move || vault.subjects())
            .await
            .map_err(|error| ServiceError::failed("finishing erasures", error))?
            .map_err(|error| ServiceError::failed("finishing erasures", error))?;
        let mut finished = 0;
        for subject in subjects {
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
                self.destroy_key(&stream).await?;
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

    /// The research view's position, after waiting (bounded) until it reaches `wait_for`.
    /// Without a research view in this process there is nothing to wait for: 0.
    pub(crate) async fn research_view_position(&self, wait_for: Option<Position>) -> Position {
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

    /// Appends; an append that erases personal data destroys the stream's key right after,
    /// in a task of its own: a caller that gives up (a deadline, a reset stream) drops only
    /// the wait for it, never the destruction, and no reply waits for the research view
    /// before the key is gone.
    pub(crate) async fn append(
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
        .map_err(|error| ServiceError::failed("erasure did not finish", error))?
    }

    /// Destroys the stream's key (idempotent), on a blocking thread that runs to the end
    /// even when the caller stops waiting.
    pub(crate) async fn destroy_key(&self, stream: &StreamName) -> Result<(), ServiceError> {
        let Some(vault) = self.vault.clone() else {
            return Ok(());
        };
        let subject = stream.to_string();
        tokio::task::spawn_blocking(move || vault.erase(&subject))
            .await
            .map_err(|error| ServiceError::failed("key destruction did not finish", error))?
            .map_err(|error| ServiceError::failed("key destruction failed", error))?;
        tracing::debug!(%stream, "key destroyed");
        Ok(())
    }

    /// An aggregate's state and its stream's revision (`None` when the stream does not exist):
    /// the state kept from an earlier load or write, with the events its stream gained since.
    pub async fn load<A: Aggregate>(
        &self,
        stream: &StreamName,
    ) -> Result<(Arc<A>, Option<StreamRevision>), ServiceError> {
        let kept = self.states.get::<A>(stream);
        let from = after(kept.as_ref().map(|(_, revision)| *revision));
        let page = self
            .store
            .read_stream(stream, Direction::Forward, from, PAGE_SIZE)
            .await?;
        self.fold_kept(stream, kept, page).await
    }

    /// Like [`load`](Self::load), unless `key` was used before: then the outcome recorded
    /// for it, looked up in the same trip to the store as the stream's first page.
    pub(crate) async fn load_unless_replayed<A: Aggregate>(
        &self,
        stream: &StreamName,
        key: &IdempotencyKey,
    ) -> Result<Result<(Arc<A>, Option<StreamRevision>), AppendOutcome>, ServiceError> {
        let kept = self.states.get::<A>(stream);
        let from = after(kept.as_ref().map(|(_, revision)| *revision));
        let (replayed, page) = self
            .store
            .find_idempotent_outcome_then_read(key, stream, from, PAGE_SIZE)
            .await?;
        match replayed {
            Some(outcome) => Ok(Err(outcome)),
            None => self.fold_kept(stream, kept, page).await.map(Ok),
        }
    }

    /// The kept state (or a new one) with `page`, the events read after it, and the rest of
    /// the stream folded in; kept for the next load if the stream gained any.
    async fn fold_kept<A: Aggregate>(
        &self,
        stream: &StreamName,
        kept: Option<(Arc<A>, StreamRevision)>,
        page: Vec<RecordedEvent>,
    ) -> Result<(Arc<A>, Option<StreamRevision>), ServiceError> {
        let kept_revision = kept.as_ref().map(|(_, revision)| *revision);
        let state = kept.map_or_else(Arc::default, |(state, _)| state);
        let (state, revision) = self
            .catch_up(stream, state, kept_revision, None, Some(page))
            .await?;
        if let Some(revision) = revision.filter(|revision| Some(*revision) != kept_revision) {
            self.states.put(stream, Arc::clone(&state), revision);
        }
        Ok((state, revision))
    }

    /// Like [`load`](Self::load), for state that grants rights: the stream's hash chain must
    /// verify, so an event edited in the file is refused rather than believed. A kept state
    /// keeps its verifier, so only the events the stream gained are checked; an edit of an
    /// event already folded is not believed either (the kept state is the original's), and a
    /// start or `VerifyStore` reports it.
    pub async fn load_verified<A: Aggregate>(
        &self,
        stream: &StreamName,
    ) -> Result<(Arc<A>, Option<StreamRevision>), ServiceError> {
        let kept = self.verified_states.get::<(Arc<A>, ChainVerifier)>(stream);
        let kept_revision = kept.as_ref().map(|(_, revision)| *revision);
        let (state, mut verifier) = kept.map_or_else(
            || (Arc::default(), ChainVerifier::new()),
            |(kept, _)| (Arc::clone(&kept.0), kept.1.clone()),
        );
        let (state, revision) = self
            .catch_up(stream, state, kept_revision, Some(&mut verifier), None)
            .await?;
        if let Some(revision) = revision.filter(|revision| Some(*revision) != kept_revision) {
            self.verified_states
                .put(stream, Arc::new((Arc::clone(&state), verifier)), revision);
        }
        Ok((state, revision))
    }

    /// `state`, the fold of `stream` up to `revision`, with the events after it folded in,
    /// starting with `first_page` when that was read already.
    async fn catch_up<A: Aggregate>(
        &self,
        stream: &StreamName,
        mut state: Arc<A>,
        mut revision: Option<StreamRevision>,
        mut verifier: Option<&mut ChainVerifier>,
        mut first_page: Option<Vec<RecordedEvent>>,
    ) -> Result<(Arc<A>, Option<StreamRevision>), ServiceError> {
        loop {
            let page = match first_page.take() {
                Some(page) => page,
                None => {
                    self.store
                        .read_stream(stream, Direction::Forward, after(revision), PAGE_SIZE)
                        .await?
                }
            };
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
                // Copied only if kept: the first event the stream gained copies it, once.
                Arc::make_mut(&mut state).evolve(&decoded);
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
    ) -> Result<Arc<A>, ServiceError> {
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
}

/// Where a read of a stream folded up to `revision` goes on.
fn after(revision: Option<StreamRevision>) -> ReadFrom<StreamRevision> {
    revision.map_or(ReadFrom::Start, |last| ReadFrom::At(last.next()))
}
