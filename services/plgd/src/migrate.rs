//! `plgd migrate`: copies an embedded data directory's log into KurrentDB, every event as it
//! is stored (id, type, schema version, data, metadata, timestamp, chain hash) at its own
//! revision, then the request records, then verifies the copy. docs/kurrentdb.md,
//! "Migrating", is the design.
//!
//! Resumable: the target's head of each stream tells how much of it an earlier run copied
//! (checked against the source's event at that revision), and what is there is not sent
//! again; an append of events already there would be a no-op anyway (KurrentDB's
//! idempotence by event id at an exact revision).

mod progress;
mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::StreamExt as _;

use plg_eventstore::kurrentdb::{Imported, KurrentDbEventStore};
use plg_eventstore::sqlite::{RequestRecord, Sharing, SqliteEventStore};
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StoreError, StreamName,
    StreamRevision,
};
use plg_projections::RESEARCH_DB_FILE;
use plg_server::{
    app::EVENT_STORE_FILE,
    config::Config,
    lock::{Claim, DataDirLock, LockError},
};

use progress::Progress;
use verify::Chains;

/// Events read from the source log at a time.
const PAGE: usize = 1_024;

/// The most events, and about the most bytes of data and metadata, one append carries:
/// well below KurrentDB's default maximum append size (1 MiB) and plgd's listener's limits
/// (1,000 events, 4 MiB). A larger single event goes alone.
const APPEND_EVENTS: usize = 500;
const APPEND_BYTES: usize = 512 * 1024;

/// The verification's problems named in its error at most.
const PROBLEMS_SHOWN: usize = 50;

/// Request records read from the source at a time.
const REQUEST_PAGE: usize = 256;
/// Request records copied or checked at once: each is its own stream, so their order does not
/// matter, and each costs a round trip or two (more with a client that delays its small
/// writes: docs/kurrentdb.md, "Migrating"). The log's events are copied one append after
/// another, in the log's order.
const REQUESTS_AT_ONCE: usize = 16;

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migrated {
    /// The source's events and streams.
    pub events: u64,
    pub streams: u64,
    /// Events this run appended; those an earlier run had copied.
    pub copied: u64,
    pub already_there: u64,
    /// The source's request records; those this run recorded.
    pub requests: u64,
    pub requests_copied: u64,
    /// Stopped after `stop_after_events` as asked: neither the rest, the request records nor
    /// the verification were done.
    pub stopped: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("no event store in {0}: nothing to migrate")]
    NoStore(PathBuf),
    #[error("the embedded store: {0}")]
    Source(StoreError),
    #[error("the target: {0}")]
    Target(StoreError),
    #[error(
        "the target's stream {stream} differs from the source's at revision {revision} (event \
         {target_id}, hash {target_hash} there; {source_id}, hash {source_hash} in the source): \
         the target is not a copy of this store; migrate into an empty KurrentDB"
    )]
    StreamDiffers {
        stream: StreamName,
        revision: StreamRevision,
        target_id: uuid::Uuid,
        target_hash: String,
        source_id: uuid::Uuid,
        source_hash: String,
    },
    #[error(
        "the target's stream {stream} has {target_events} events, more than the source's: the \
         target is not a copy of this store; migrate into an empty KurrentDB"
    )]
    StreamLonger {
        stream: StreamName,
        target_events: u64,
    },
    #[error(
        "the target holds a request record for the key {0} that differs from the source's: \
         the target is not a copy of this store; migrate into an empty KurrentDB"
    )]
    RequestDiffers(String),
    #[error("the copy does not verify:\n{}", .0.join("\n"))]
    Verification(Vec<String>),
    #[error("the copy verified, but the research view {path} cannot be removed")]
    ResearchView {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Copies the log of `config.data_dir` into the KurrentDB at `to` and verifies the copy,
/// reporting progress on stderr. Refuses while another process uses the data directory.
/// `stop_after_events` stops once this run has appended that many events, as if interrupted.
pub async fn migrate(
    config: &Config,
    to: &str,
    stop_after_events: Option<u64>,
) -> Result<Migrated, MigrateError> {
    let _lock = DataDirLock::acquire(&config.data_dir, Claim::Whole)?;
    let path = config.data_dir.join(EVENT_STORE_FILE);
    if !path.exists() {
        return Err(MigrateError::NoStore(config.data_dir.clone()));
    }
    let source = SqliteEventStore::open_with(&path, Sharing::Exclusive)
        .await
        .map_err(MigrateError::Source)?;
    let migrated = match KurrentDbEventStore::connect(to).await {
        Ok(target) => copy_and_verify(&source, &target, stop_after_events).await,
        Err(error) => Err(MigrateError::Target(error)),
    };
    source.close().await;
    if migrated.as_ref().is_ok_and(|migrated| !migrated.stopped) {
        forget_research_view(&config.data_dir)?;
    }
    migrated
}

/// Removes the data directory's research view once the copy is verified. Its checkpoints are
/// the embedded store's positions, which on KurrentDB fall on other events (or on none). The
/// view would find that out itself when opened on KurrentDB (it records the log it follows)
/// and start over; removed here, it starts over whatever build opens it, and its space is
/// freed at once. plgd builds it anew from the log it then runs on.
fn forget_research_view(data_dir: &Path) -> Result<(), MigrateError> {
    // The main file last: a WAL left beside a new view would be read as the new view's.
    for suffix in ["-wal", "-shm", ""] {
        let path = data_dir.join(format!("{RESEARCH_DB_FILE}{suffix}"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(MigrateError::ResearchView { path, source }),
        }
    }
    Ok(())
}

async fn copy_and_verify(
    source: &SqliteEventStore,
    target: &KurrentDbEventStore,
    stop_after_events: Option<u64>,
) -> Result<Migrated, MigrateError> {
    let (events, streams) = source.size().await.map_err(MigrateError::Source)?;
    let requests = source.request_count().await.map_err(MigrateError::Source)?;
    let mut copy = EventCopy {
        source,
        target,
        budget: stop_after_events,
        through: HashMap::new(),
        chains: Chains::default(),
        progress: Progress::new(events, streams),
        migrated: Migrated {
            events,
            streams,
            requests,
            ..Migrated::default()
        },
    };
    copy.copy_log().await?;
    copy.progress.finish();
    if copy.migrated.stopped {
        return Ok(copy.migrated);
    }
    let mut migrated = copy.migrated;
    migrated.requests_copied = copy_requests(source, target, requests).await?;
    let mut problems = copy.chains.compare(&Chains::read(target).await?);
    problems.extend(verify::requests(source, target).await?);
    if problems.is_empty() {
        return Ok(migrated);
    }
    let more = problems.len().saturating_sub(PROBLEMS_SHOWN);
    problems.truncate(PROBLEMS_SHOWN);
    if more > 0 {
        problems.push(format!("… and {more} more"));
    }
    Err(MigrateError::Verification(problems))
}

/// The copy of the log under way.
struct EventCopy<'a> {
    source: &'a SqliteEventStore,
    target: &'a KurrentDbEventStore,
    /// Events this run may still append, when limited.
    budget: Option<u64>,
    /// Each stream met so far: the revision through which the target holds it.
    through: HashMap<StreamName, Option<StreamRevision>>,
    /// The source's streams as read: counts, heads and chains, to verify the target against.
    chains: Chains,
    progress: Progress,
    migrated: Migrated,
}

impl EventCopy<'_> {
    /// The source's log forward, a page at a time, each stream's consecutive events together.
    async fn copy_log(&mut self) -> Result<(), MigrateError> {
        let mut from = ReadFrom::Start;
        loop {
            let page = self
                .source
                .read_all(Direction::Forward, from, PAGE)
                .await
                .map_err(MigrateError::Source)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            from = ReadFrom::At(Position(last.position.0 + 1));
            for run in page.chunk_by(|a, b| a.stream == b.stream) {
                for batch in batches(run) {
                    self.copy(batch).await?;
                    if self.migrated.stopped {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Appends what the target lacks of `batch`, events of one stream in revision order.
    async fn copy(&mut self, batch: &[RecordedEvent]) -> Result<(), MigrateError> {
        let stream = &batch[0].stream;
        let through = match self.through.get(stream) {
            Some(through) => *through,
            None => {
                self.progress.stream_met();
                target_through(self.source, self.target, stream).await?
            }
        };
        batch.iter().for_each(|event| self.chains.push(event));
        let missing: Vec<&RecordedEvent> = batch
            .iter()
            .filter(|event| through.is_none_or(|through| event.revision > through))
            .collect();
        let kept = (batch.len() - missing.len()) as u64;
        let allowed = self
            .budget
            .map_or(missing.len(), |left| missing.len().min(left as usize));
        let written: Vec<RecordedEvent> = missing[..allowed].iter().map(|e| (*e).clone()).collect();
        if !written.is_empty() {
            self.target
                .import_events(&written)
                .await
                .map_err(MigrateError::Target)?;
        }
        self.migrated.stopped = allowed < missing.len();
        let count = written.len() as u64;
        self.budget = self.budget.map(|left| left - count);
        let last = written.last().map_or(through, |event| Some(event.revision));
        self.through.insert(stream.clone(), last);
        self.migrated.copied += count;
        self.migrated.already_there += kept;
        self.progress.events(count, kept);
        Ok(())
    }
}

/// Splits a stream's run of events into appends within the size limits.
fn batches(run: &[RecordedEvent]) -> impl Iterator<Item = &[RecordedEvent]> {
    let mut rest = run;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut take = 0;
        while take < rest.len().min(APPEND_EVENTS) {
            bytes += approximate_size(&rest[take]);
            if take > 0 && bytes > APPEND_BYTES {
                break;
            }
            take += 1;
        }
        let (batch, after) = rest.split_at(take);
        rest = after;
        Some(batch)
    })
}

fn approximate_size(event: &RecordedEvent) -> usize {
    event.data.to_string().len() + event.metadata.to_string().len() + event.hash.len() + 64
}

/// The revision through which the target holds `stream` (`None`: not at all), once its
/// head is found to be the source's event at that revision: the same id and chain hash (the
/// chain's hash covers every earlier event, and the verification checks the target's chains).
async fn target_through(
    source: &SqliteEventStore,
    target: &KurrentDbEventStore,
    stream: &StreamName,
) -> Result<Option<StreamRevision>, MigrateError> {
    let Some(head) = last_event(target, stream)
        .await
        .map_err(MigrateError::Target)?
    else {
        return Ok(None);
    };
    let ours = source
        .read_stream(stream, Direction::Forward, ReadFrom::At(head.revision), 1)
        .await
        .map_err(MigrateError::Source)?
        .pop();
    match ours {
        Some(ours) if ours.id == head.id && ours.hash == head.hash => Ok(Some(head.revision)),
        Some(ours) => Err(MigrateError::StreamDiffers {
            stream: stream.clone(),
            revision: head.revision,
            target_id: head.id,
            target_hash: head.hash,
            source_id: ours.id,
            source_hash: ours.hash,
        }),
        None => Err(MigrateError::StreamLonger {
            stream: stream.clone(),
            target_events: head.revision.0 + 1,
        }),
    }
}

async fn last_event(
    store: &dyn EventStore,
    stream: &StreamName,
) -> Result<Option<RecordedEvent>, StoreError> {
    Ok(store
        .read_stream(stream, Direction::Backward, ReadFrom::End, 1)
        .await?
        .pop())
}

/// Records each of the source's request records on the target; returns how many were new.
async fn copy_requests(
    source: &SqliteEventStore,
    target: &KurrentDbEventStore,
    total: u64,
) -> Result<u64, MigrateError> {
    let mut progress = Progress::requests(total);
    let mut copied = 0;
    let mut pages = RequestPages::default();
    loop {
        let page = pages.next(source).await?;
        if page.is_empty() {
            progress.finish();
            return Ok(copied);
        }
        let mut imported = futures::stream::iter(&page)
            .map(|record| async move {
                let events = request_events(source, record).await?;
                Ok::<_, MigrateError>(target.import_request(&record.key, &events).await)
            })
            .buffered(REQUESTS_AT_ONCE);
        while let Some(result) = imported.next().await {
            match result? {
                Ok(Imported::Written) => {
                    copied += 1;
                    progress.events(1, 0);
                }
                Ok(Imported::AlreadyThere) => progress.events(0, 1),
                Err(StoreError::IdempotencyKeyReused(key)) => {
                    return Err(MigrateError::RequestDiffers(key));
                }
                Err(error) => return Err(MigrateError::Target(error)),
            }
        }
    }
}

/// The source's request records, a page at a time in key order.
#[derive(Debug, Default)]
struct RequestPages {
    after: Option<String>,
}

impl RequestPages {
    /// The next page; empty once all were read.
    async fn next(
        &mut self,
        source: &SqliteEventStore,
    ) -> Result<Vec<RequestRecord>, MigrateError> {
        let page = source
            .request_records(self.after.take(), REQUEST_PAGE)
            .await
            .map_err(MigrateError::Source)?;
        self.after = page.last().map(|last| last.key.key.clone());
        Ok(page)
    }
}

/// The events the request appended, as the source stores them.
async fn request_events(
    source: &SqliteEventStore,
    record: &RequestRecord,
) -> Result<Vec<RecordedEvent>, MigrateError> {
    let outcome = &record.outcome;
    let count = outcome.revision.0 + 1 - outcome.first_revision.0;
    let events = source
        .read_stream(
            &outcome.stream,
            Direction::Forward,
            ReadFrom::At(outcome.first_revision),
            count as usize,
        )
        .await
        .map_err(MigrateError::Source)?;
    if events.len() as u64 != count {
        return Err(MigrateError::Source(StoreError::Corrupt(format!(
            "the request {} appended revisions {} to {} of {}, which the store does not hold",
            record.key.key, outcome.first_revision, outcome.revision, outcome.stream
        ))));
    }
    Ok(events)
}
