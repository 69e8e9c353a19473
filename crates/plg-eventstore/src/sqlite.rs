//! The embedded event store: one SQLite file, written by one thread with group commit.
//!
//! # Storage layout
//!
//! The file is an ordinary SQLite database in WAL mode and can be opened with `sqlite3` for
//! inspection (preferably read-only: `sqlite3 -readonly events.db`). `PRAGMA user_version`
//! holds the schema version ([`SCHEMA_VERSION`]) so that later builds can migrate it.
//!
//! ```sql
//! -- The global log. `position` is the event's place in it: it starts at 1, strictly
//! -- increases in commit order and is never reused.
//! CREATE TABLE events (
//!     position       INTEGER PRIMARY KEY AUTOINCREMENT,
//!     stream         TEXT    NOT NULL,
//!     revision       INTEGER NOT NULL,  -- 0-based index within the stream
//!     event_id       TEXT    NOT NULL UNIQUE,  -- hyphenated lowercase UUID
//!     event_type     TEXT    NOT NULL,
//!     schema_version INTEGER NOT NULL,
//!     data           TEXT    NOT NULL,  -- JSON document
//!     metadata       TEXT    NOT NULL,  -- JSON document
//!     recorded_at    TEXT    NOT NULL,  -- RFC 3339, UTC, microseconds: 2025-01-31T12:00:00.123456Z
//!     hash           TEXT    NOT NULL,  -- the stream's hash chain: lowercase hex SHA-256
//!     UNIQUE (stream, revision)
//! ) STRICT;
//!
//! -- One row per successful append that carried an idempotency key: its outcome.
//! CREATE TABLE idempotency (
//!     key            TEXT    PRIMARY KEY,
//!     fingerprint    TEXT    NOT NULL,
//!     stream         TEXT    NOT NULL,
//!     first_revision INTEGER NOT NULL,
//!     revision       INTEGER NOT NULL,
//!     position       INTEGER NOT NULL  -- that of the append's last event
//! ) STRICT, WITHOUT ROWID;
//! ```
//!
//! `hash` links each event to the one before it in its stream (see [`chain`]):
//! the writer computes it from the stream's last stored hash inside the append's savepoint,
//! so that the chain follows the order in which revisions are committed. Verify a stream
//! with [`chain::verify`] on what [`EventStore::read_stream`] returns.
//!
//! # Checkpoints
//!
//! Commits land in the WAL (`events.db-wal`). Every [`CHECKPOINT_INTERVAL`] in which this
//! process committed something, a passive checkpoint on a connection of its own copies them
//! into `events.db`; one that a reader kept from finishing is tried again at the next interval.
//! The writer's commits do not checkpoint unless the WAL reaches a far backstop (SQLite's
//! auto-checkpoint at [`crate::wal::BACKSTOP_PAGES`], reached only while a reader pins the WAL),
//! so a commit does not wait for a copy of the whole WAL; once a checkpoint has copied a long
//! WAL, the writer copies what it committed meanwhile between two batches (the batches queued
//! behind it wait for that small copy) and its next batch starts the WAL afresh, which keeps
//! the WAL short ([`crate::wal`]). Closing the store
//! checkpoints with `TRUNCATE`, which leaves the WAL empty, so a stopped store's `events.db`
//! alone holds every event, unless another connection (a backup in progress, another process
//! sharing the file) still reads: then the checkpoint is incomplete, a warning is logged, and
//! the rest stays in the WAL for the next opener. A copy of `events.db` alone is therefore no
//! backup; [`copy_database`] is.
//!
//! # Schema versions
//!
//! - 1: the tables above without `events.hash`.
//! - 2: adds the hash chain. Opening a version-1 file migrates it in one transaction: the
//!   `events` table is renamed aside, recreated with the version-2 definition, and every
//!   row copied across unchanged (same position, same JSON text) stream by stream in
//!   revision order, with its hash chained from the previous row of its stream; then the old
//!   table is dropped and the `AUTOINCREMENT` counter restored, so positions are never
//!   reused. A migrated file is indistinguishable from one created at version 2. The
//!   backfilled hashes vouch for the history only from the migration on. If any stored
//!   event cannot be read, the migration fails, the file stays at version 1 untouched, and
//!   the open fails with [`StoreError::Corrupt`]. So does a "version 1" file whose `events`
//!   already has the `hash` column: its version was set back by hand, and rehashing would
//!   approve every edit made to it. Other processes opening the file wait
//!   (up to [`BUSY_TIMEOUT`]) while it runs.
//!
//! # Concurrency
//!
//! One writer thread owns the only write connection of the process. It takes every append
//! queued at that moment (up to [`MAX_BATCH`]), runs them in one transaction, each inside
//! its own savepoint so that a failed check undoes only that append, commits once (one
//! fsync for the whole batch) and only then answers the callers. Reads go to a small pool of
//! read-only connections on the blocking thread pool; WAL lets them run alongside the writer.
//! Several processes may share the file: writers then take turns through SQLite's lock,
//! waiting up to [`BUSY_TIMEOUT`]. A store opened [`Sharing::Exclusive`] (its opener holds
//! the file alone) also keeps where each stream ends ([`heads`]) and which streams and
//! idempotency keys the file holds ([`stored`]), so reads that would find nothing new or
//! nothing at all are answered without SQLite.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

mod heads;
mod inventory;
mod metrics;
mod open;
mod read;
mod stored;

use crate::chain;
use crate::wal::{self, Checkpointed, WalCycle};
use crate::{
    AppendOutcome, AppendRequest, Direction, EventStore, IdempotencyKey, Log, Position, ReadFrom,
    RecordedEvent, StoreError, StoredEvent, StoredSubscription, StreamName, StreamRevision,
    Subscription,
};
use heads::{End, Generation, Heads};
use open::open_writer_connection;
use read::{
    READ_ALL_FORWARD, READ_STREAM_FORWARD, ReadPool, current_revision, find_outcome, limit,
    load_idempotent_outcome, query_stored, read_all_page, read_forward, read_stream_page,
    stream_head,
};
use stored::StoredNames;

pub use inventory::RequestRecord;

/// The schema version this build writes, kept in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 2;

/// The most appends committed together in one transaction.
pub const MAX_BATCH: usize = 256;

/// How long a write waits for another process holding the database lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Appends waiting for the writer; callers wait for room beyond this.
const QUEUE_CAPACITY: usize = 1024;

/// Read connections open at once, each kept for reuse: a few per core (reads are short).
const MAX_READERS: usize = 8;

/// Events a subscription reads from storage at a time, which bounds what it holds in memory.
const SUBSCRIPTION_PAGE: usize = 256;

/// How often the WAL is copied into the database file while the store runs, when something
/// was committed since: often enough that the WAL stays short ([`crate::wal`]), and the file
/// alone holds all but the last moments' events.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// How often an idle subscription looks at the file even without a local commit, so that it
/// also sees appends made by other processes sharing the file.
const FOREIGN_WRITE_POLL: Duration = Duration::from_secs(1);

/// The `events` table of the current schema; also what the migration from version 1 creates.
const EVENTS_TABLE: &str = "
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
    hash           TEXT    NOT NULL,
    UNIQUE (stream, revision)
) STRICT;
";

const IDEMPOTENCY_TABLE: &str = "
CREATE TABLE IF NOT EXISTS idempotency (
    key            TEXT    PRIMARY KEY,
    fingerprint    TEXT    NOT NULL,
    stream         TEXT    NOT NULL,
    first_revision INTEGER NOT NULL,
    revision       INTEGER NOT NULL,
    position       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
";

const EVENT_COLUMNS: &str = "position, stream, revision, event_id, event_type, schema_version, \
                             data, metadata, recorded_at, hash";

/// Whether other connections may write the file while the store is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Other processes may append (single-service binaries sharing a data directory): every
    /// read asks SQLite.
    Shared,
    /// The opener holds the file alone (an exclusive lock on the data directory), so every
    /// commit is this store's own: it keeps where each stream ends and answers reads past
    /// that end without SQLite. Should another connection commit all the same, the writer
    /// notices at its next batch and forgets what it kept.
    Exclusive,
}

/// The embedded SQLite event store. Cheap to clone: clones share one writer and one pool of
/// read connections. The writer stops when [`close`](Self::close) is called or the last
/// clone is dropped.
#[derive(Clone)]
pub struct SqliteEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// `None` once closed.
    queue: Mutex<Option<mpsc::Sender<WriteRequest>>>,
    readers: Arc<ReadPool>,
    /// Where streams end, for a store opened [`Sharing::Exclusive`].
    heads: Option<Arc<Heads>>,
    /// The position of the last event committed by this process's writer; its sender lives
    /// on the writer thread, so the channel closes when that thread ends.
    committed: watch::Receiver<Position>,
    /// Whether the writer's last batch failed to commit (a full disk, a lock held too long):
    /// until one commits again, appends fail, and health checks say so.
    last_commit_failed: Arc<AtomicBool>,
    /// The directory of a store made by [`SqliteEventStore::open_temporary`], deleted with it
    /// (declared last, so dropped last).
    _temp_dir: Option<tempfile::TempDir>,
}

struct WriteRequest {
    append: AppendRequest,
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    /// The caller's span, on which the writer records the group commit the append joined
    /// (`metrics::record_commit`).
    span: tracing::Span,
}

impl SqliteEventStore {
    /// Opens the store at `path`, creating the file and its schema if missing, to share it
    /// with other processes.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Sharing::Shared).await
    }

    /// Opens the store at `path`, creating the file and its schema if missing.
    pub async fn open_with(path: impl AsRef<Path>, sharing: Sharing) -> Result<Self, StoreError> {
        Self::open_inner(
            path.as_ref().to_path_buf(),
            sharing,
            None,
            CHECKPOINT_INTERVAL,
        )
        .await
    }

    /// Opens a store in a new temporary directory that is deleted when the store is dropped:
    /// for tests and throwaway runs. Nobody else knows the directory: the store holds it
    /// [`Sharing::Exclusive`].
    pub async fn open_temporary() -> Result<Self, StoreError> {
        Self::open_temporary_with(Sharing::Exclusive).await
    }

    /// [`open_temporary`](Self::open_temporary), as if shared with other processes.
    pub async fn open_temporary_with(sharing: Sharing) -> Result<Self, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("plg-eventstore-")
            .tempdir()
            .map_err(|error| {
                StoreError::Storage(format!("cannot create a temporary directory: {error}"))
            })?;
        Self::open_inner(
            dir.path().join("events.db"),
            sharing,
            Some(dir),
            CHECKPOINT_INTERVAL,
        )
        .await
    }

    async fn open_inner(
        path: PathBuf,
        sharing: Sharing,
        temp_dir: Option<tempfile::TempDir>,
        checkpoint_every: Duration,
    ) -> Result<Self, StoreError> {
        let writer_path = path.clone();
        let (connection, last_position, heads) = run_blocking(move || {
            let (connection, last_position) = open_writer_connection(&writer_path)?;
            // Read before the writer starts: from here on, it adds what it commits.
            let heads = (sharing == Sharing::Exclusive)
                .then(|| StoredNames::load(&connection).map(Heads::with_stored))
                .transpose()
                .map_err(storage)?;
            Ok((connection, last_position, heads.map(Arc::new)))
        })
        .await?;

        let (queue, requests) = mpsc::channel(QUEUE_CAPACITY);
        let (committed_tx, committed) = watch::channel(last_position);
        let cycle = WalCycle::default();
        let last_commit_failed = Arc::new(AtomicBool::new(false));
        let writer = Writer::new(connection, heads.clone(), cycle.clone())
            .map_err(storage)?
            .reporting_failures_to(Arc::clone(&last_commit_failed));
        std::thread::Builder::new()
            .name("plg-eventstore-writer".to_owned())
            .spawn(move || run_writer(writer, requests, committed_tx))
            .map_err(|error| {
                StoreError::Storage(format!("cannot start the writer thread: {error}"))
            })?;

        tokio::spawn(checkpoint_regularly(
            path.clone(),
            committed.clone(),
            checkpoint_every,
            cycle,
        ));
        tracing::info!(path = %path.display(), %last_position, "event store opened");
        Ok(Self {
            inner: Arc::new(Inner {
                readers: Arc::new(ReadPool::new(path.clone())),
                heads,
                path,
                queue: Mutex::new(Some(queue)),
                committed,
                last_commit_failed,
                _temp_dir: temp_dir,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stops the store for every clone: appends already queued are committed and answered,
    /// then the writer stops; later calls fail with [`StoreError::Closed`] and subscriptions
    /// end. Returns once the writer has finished.
    pub async fn close(&self) {
        drop(lock(&self.inner.queue).take());
        // The writer drops its end of the watch channel as its very last act.
        let mut committed = self.inner.committed.clone();
        while committed.changed().await.is_ok() {}
        self.inner.readers.close();
        tracing::info!(path = %self.inner.path.display(), "event store closed");
    }

    fn queue(&self) -> Result<mpsc::Sender<WriteRequest>, StoreError> {
        lock(&self.inner.queue).clone().ok_or(StoreError::Closed)
    }

    /// Whether the stream is known to have no event at or after revision `from`.
    fn known_to_end_before(&self, stream: &StreamName, from: i64) -> bool {
        let end = self
            .inner
            .heads
            .as_ref()
            .and_then(|heads| heads.end(stream));
        end.is_some_and(|end| end.is_before(u64::try_from(from).unwrap_or(0)))
    }

    /// Whether no append with `key` was ever committed.
    fn known_unused(&self, key: &IdempotencyKey) -> bool {
        self.inner
            .heads
            .as_ref()
            .is_some_and(|heads| heads.key_unused(&key.key))
    }

    /// Where a read about to start may record the stream end it finds.
    fn learning(&self) -> Option<(Arc<Heads>, Generation)> {
        let heads = self.inner.heads.as_ref()?;
        Some((Arc::clone(heads), heads.generation()))
    }

    /// Every event of `target` from `next` on, a stored page at a time.
    fn subscribe_stored(&self, target: Target, next: u64) -> StoredSubscription {
        let state = SubscriptionState {
            readers: Arc::clone(&self.inner.readers),
            committed: self.inner.committed.clone(),
            target,
            next,
        };
        futures::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            match state.next_page().await {
                Ok(Some(page)) => Some((Ok(page), Some(state))),
                Ok(None) => None,
                // Report the failure, then end: the caller resubscribes from what it has.
                Err(error) => Some((Err(error), None)),
            }
        })
        .boxed()
    }

    /// [`subscribe_stored`](Self::subscribe_stored) an event at a time, each parsed as a read
    /// returns it.
    fn subscribe(&self, target: Target, next: u64) -> Subscription {
        self.subscribe_stored(target, next)
            .flat_map(|page| match page {
                Ok(events) => futures::stream::iter(events)
                    .map(|event| Ok(RecordedEvent::from(event)))
                    .left_stream(),
                Err(error) => futures::stream::once(async { Err(error) }).right_stream(),
            })
            .boxed()
    }
}

impl fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("path", &self.inner.path)
            .field("last_committed", &*self.inner.committed.borrow())
            .field("closed", &lock(&self.inner.queue).is_none())
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Nobody can be waiting on an append any more; the writer finishes what is queued
        // (appends whose callers gave up) and stops on its own.
        drop(lock(&self.queue).take());
        self.readers.close();
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    /// Also whether the writer runs and its last batch committed: reads alone would pass while
    /// every append fails.
    async fn check(&self) -> Result<(), StoreError> {
        if self.inner.committed.has_changed().is_err() {
            return Err(StoreError::Closed);
        }
        if self.inner.last_commit_failed.load(Ordering::Relaxed) {
            return Err(StoreError::Storage(
                "the writer's last batch failed to commit".to_owned(),
            ));
        }
        self.read_all(Direction::Forward, ReadFrom::Start, 1)
            .await
            .map(drop)
    }

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let queue = self.queue()?;
        let (reply, outcome) = oneshot::channel();
        queue
            .send(WriteRequest {
                append: request,
                reply,
                span: tracing::Span::current(),
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        drop(queue);
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    async fn find_idempotent_outcome(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        if self.known_unused(key) {
            return Ok(None);
        }
        let key = key.clone();
        self.inner
            .readers
            .run(move |connection| find_outcome(connection, &key))
            .await
    }

    async fn find_idempotent_outcome_then_read(
        &self,
        key: &IdempotencyKey,
        stream: &StreamName,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<(Option<AppendOutcome>, Vec<RecordedEvent>), StoreError> {
        let from = bound(from, |revision| revision.0);
        if self.known_to_end_before(stream, from) {
            return Ok((self.find_idempotent_outcome(key).await?, Vec::new()));
        }
        let (key, stream, learning) = (key.clone(), stream.clone(), self.learning());
        self.inner
            .readers
            .run(move |connection| {
                let outcome = find_outcome(connection, &key)?;
                if outcome.is_some() {
                    return Ok((outcome, Vec::new()));
                }
                let events = read_forward(connection, learning, &stream, from, max_count)?;
                Ok((None, events))
            })
            .await
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        direction: Direction,
        from: ReadFrom<StreamRevision>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let from = bound(from, |revision| revision.0);
        if direction == Direction::Forward && self.known_to_end_before(stream, from) {
            return Ok(Vec::new());
        }
        let (stream, learning) = (stream.clone(), self.learning());
        self.inner
            .readers
            .run(move |connection| match direction {
                Direction::Forward => read_forward(connection, learning, &stream, from, max_count),
                Direction::Backward => {
                    read_stream_page(connection, &stream, direction, from, max_count)
                }
            })
            .await
    }

    async fn read_all(
        &self,
        direction: Direction,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let from = bound(from, |position| position.0);
        self.inner
            .readers
            .run(move |connection| read_all_page(connection, direction, from, max_count))
            .await
    }

    async fn read_all_stored(
        &self,
        from: ReadFrom<Position>,
        max_count: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let from = bound(from, |position| position.0);
        self.inner
            .readers
            .run(move |connection| {
                query_stored(
                    connection,
                    READ_ALL_FORWARD,
                    params![from, limit(max_count)],
                )
            })
            .await
    }

    async fn stream_revision(
        &self,
        stream: &StreamName,
    ) -> Result<Option<StreamRevision>, StoreError> {
        let known = self
            .inner
            .heads
            .as_ref()
            .and_then(|heads| heads.end(stream));
        if let Some(head) = known.and_then(End::head) {
            return Ok(head);
        }
        let (stream, learning) = (stream.clone(), self.learning());
        self.inner
            .readers
            .run(move |connection| {
                let head = current_revision(connection, &stream)?;
                if let Some((heads, generation)) = learning {
                    heads.learn(generation, &stream, End::at(head));
                }
                Ok(head)
            })
            .await
    }

    async fn streams_in_category(&self, category: &str) -> Result<Vec<StreamName>, StoreError> {
        // `.` sorts right after `-`: the range is exactly the names starting `<category>-`,
        // read from the (stream, revision) index.
        let (from, until) = (format!("{category}-"), format!("{category}."));
        self.inner
            .readers
            .run(move |connection| {
                let mut statement = connection
                    .prepare_cached(
                        "SELECT stream FROM events WHERE stream >= ?1 AND stream < ?2 \
                         AND revision = 0 ORDER BY position",
                    )
                    .map_err(storage)?;
                let names = statement
                    .query_map([&from, &until], |row| row.get::<_, String>(0))
                    .map_err(storage)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(storage)?;
                names.into_iter().map(StreamName::new).collect()
            })
            .await
    }

    fn subscribe_to_all(&self, after: Option<Position>) -> Subscription {
        self.subscribe(
            Target::All,
            after.map_or(0, |position| position.0.saturating_add(1)),
        )
    }

    fn subscribe_to_all_stored(&self, after: Option<Position>) -> StoredSubscription {
        self.subscribe_stored(
            Target::All,
            after.map_or(0, |position| position.0.saturating_add(1)),
        )
    }

    fn subscribe_to_stream(
        &self,
        stream: StreamName,
        after: Option<StreamRevision>,
    ) -> Subscription {
        self.subscribe(
            Target::Stream(stream),
            after.map_or(0, |revision| revision.0.saturating_add(1)),
        )
    }

    fn log(&self) -> Log {
        Log::Embedded
    }
}

/// The inclusive bound a read starts from: `Start` is revision (or position) 0, `End` is
/// past every event, so that reading backward from it starts with the newest.
fn bound<T>(from: ReadFrom<T>, value: impl FnOnce(T) -> u64) -> i64 {
    match from {
        ReadFrom::Start => 0,
        ReadFrom::End => i64::MAX,
        ReadFrom::At(at) => i64::try_from(value(at)).unwrap_or(i64::MAX),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The writer thread's connection, and what it keeps of the stream ends.
struct Writer {
    connection: Connection,
    heads: Option<Arc<Heads>>,
    /// `PRAGMA data_version` as last read: it changes when another connection commits.
    data_version: i64,
    /// Told by the regular checkpoints when to start the WAL afresh.
    cycle: WalCycle,
    /// Set when a batch fails to commit, cleared when one commits.
    last_commit_failed: Arc<AtomicBool>,
}

impl Writer {
    fn new(
        connection: Connection,
        heads: Option<Arc<Heads>>,
        cycle: WalCycle,
    ) -> rusqlite::Result<Self> {
        let data_version = read_data_version(&connection)?;
        Ok(Self {
            connection,
            heads,
            data_version,
            cycle,
            last_commit_failed: Arc::default(),
        })
    }

    fn reporting_failures_to(self, last_commit_failed: Arc<AtomicBool>) -> Self {
        Self {
            last_commit_failed,
            ..self
        }
    }

    /// Runs a batch in one transaction; returns each append's result, valid only once committed.
    fn commit_batch(&mut self, batch: &[WriteRequest]) -> Vec<Result<AppendOutcome, StoreError>> {
        let heads = self.heads.clone();
        if let Some(heads) = &heads {
            heads.committing(
                batch.iter().map(|request| &request.append.stream),
                batch
                    .iter()
                    .filter_map(|request| request.append.idempotency.as_ref())
                    .map(|key| key.key.as_str()),
            );
        }
        let started = std::time::Instant::now();
        let results = match self.try_commit_batch(batch) {
            Ok(results) => {
                self.last_commit_failed.store(false, Ordering::Relaxed);
                metrics::record_commit(batch.iter().map(|request| &request.span));
                tracing::debug!(
                    batch_size = batch.len(),
                    appended = results.iter().filter(|result| result.is_ok()).count(),
                    micros = started.elapsed().as_micros(),
                    "event store batch committed"
                );
                results
            }
            Err(error) => {
                self.last_commit_failed.store(true, Ordering::Relaxed);
                tracing::warn!(batch_size = batch.len(), %error, "event store batch failed");
                batch
                    .iter()
                    .map(|_| Err(StoreError::Storage(format!("append batch failed: {error}"))))
                    .collect()
            }
        };
        if let Some(heads) = &heads {
            heads.committed(
                results
                    .iter()
                    .filter_map(|result| result.as_ref().ok())
                    .filter(|outcome| !outcome.replayed)
                    .map(|outcome| (&outcome.stream, outcome.revision)),
            );
        }
        results
    }

    fn try_commit_batch(
        &mut self,
        batch: &[WriteRequest],
    ) -> rusqlite::Result<Vec<Result<AppendOutcome, StoreError>>> {
        // IMMEDIATE takes the write lock up front, waiting (busy timeout) for other processes,
        // rather than failing when a read transaction later needs upgrading.
        let mut transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Holding the write lock, nobody else commits until this batch has: a change of
        // `data_version` since the last batch is another connection's commit in between.
        let data_version = read_data_version(&transaction)?;
        if data_version != self.data_version {
            self.data_version = data_version;
            if let Some(heads) = &self.heads {
                tracing::warn!(
                    "another connection wrote the event store, which this process should hold \
                     alone: forgetting the stream ends it kept"
                );
                heads.forget_all();
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        for request in batch {
            let savepoint = transaction.savepoint()?;
            let result = append_one(&savepoint, &request.append);
            if result.is_ok() {
                savepoint.commit()?;
            } else {
                // Rolls back to the savepoint and releases it.
                savepoint.finish()?;
            }
            results.push(result);
        }
        transaction.commit()?;
        Ok(results)
    }
}

fn read_data_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.pragma_query_value(None, "data_version", |row| row.get(0))
}

fn run_writer(
    mut writer: Writer,
    mut requests: mpsc::Receiver<WriteRequest>,
    committed: watch::Sender<Position>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Blocks for the first request, then takes whatever else is already queued.
    while requests.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        let results = writer.commit_batch(&batch);
        let last = results
            .iter()
            .filter_map(|result| result.as_ref().ok())
            .filter(|outcome| !outcome.replayed)
            .map(|outcome| outcome.position)
            .max();
        if let Some(last) = last {
            committed.send_if_modified(|position| {
                let advanced = last > *position;
                if advanced {
                    *position = last;
                }
                advanced
            });
        }
        for (request, result) in batch.drain(..).zip(results) {
            // The caller may have given up waiting; its append stands regardless.
            let _ = request.reply.send(result);
        }
        // Between two batches: the next one starts the WAL afresh when that is due.
        writer
            .cycle
            .restart_if_due(&writer.connection, "event store");
    }
    // Everything into the database file and an empty WAL, so a stopped store is `events.db`
    // alone: a copy of that file is a complete backup.
    checkpoint(&writer.connection, "TRUNCATE");
    // Close the file before announcing (by dropping `committed`) that the writer is done.
    drop(writer);
    tracing::debug!("event store writer stopped");
}

/// One append, inside the batch's transaction: idempotency first, then the expected revision.
fn append_one(
    connection: &Connection,
    request: &AppendRequest,
) -> Result<AppendOutcome, StoreError> {
    if let Some(key) = &request.idempotency
        && let Some((fingerprint, outcome)) = load_idempotent_outcome(connection, &key.key)?
    {
        return replay(key, &fingerprint, outcome);
    }

    let head = stream_head(connection, &request.stream)?;
    let actual = head.as_ref().map(|(revision, _)| *revision);
    if !request.expected.is_satisfied_by(actual) {
        return Err(StoreError::WrongExpectedRevision {
            stream: request.stream.clone(),
            expected: request.expected,
            actual,
        });
    }

    let first_revision = actual.map_or(StreamRevision(0), StreamRevision::next);
    let recorded_at = Utc::now();
    let recorded_at_text = chain::timestamp_text(&recorded_at);
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO events (stream, revision, event_id, event_type, schema_version, data, \
             metadata, recorded_at, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(storage)?;
    let mut revision = first_revision;
    // The chain continues from the stream's last stored hash, read in this savepoint, and
    // runs through this append's own events.
    let mut previous = head.map(|(_, hash)| hash);
    for (offset, event) in (0u64..).zip(&request.events) {
        revision = StreamRevision(first_revision.0 + offset);
        let hash = chain::new_event_hash(
            previous.as_deref(),
            &request.stream,
            revision,
            event,
            &recorded_at,
        );
        insert
            .execute(params![
                request.stream.as_str(),
                to_i64(revision.0)?,
                event.id.to_string(),
                event.event_type,
                event.schema_version,
                to_json(&event.data)?,
                to_json(&event.metadata)?,
                recorded_at_text,
                hash,
            ])
            .map_err(|error| insert_error(error, event.id))?;
        previous = Some(hash);
    }
    let outcome = AppendOutcome {
        stream: request.stream.clone(),
        first_revision,
        revision,
        position: Position(to_u64(connection.last_insert_rowid())?),
        replayed: false,
    };

    if let Some(key) = &request.idempotency {
        let values = params![
            key.key,
            key.fingerprint,
            outcome.stream.as_str(),
            to_i64(outcome.first_revision.0)?,
            to_i64(outcome.revision.0)?,
            to_i64(outcome.position.0)?,
        ];
        connection
            .prepare_cached(
                "INSERT INTO idempotency (key, fingerprint, stream, first_revision, revision, \
                 position) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut statement| statement.execute(values))
            .map_err(storage)?;
    }
    Ok(outcome)
}

/// The answer to a reused idempotency key: the first outcome if the request is the same one.
fn replay(
    key: &IdempotencyKey,
    stored_fingerprint: &str,
    outcome: AppendOutcome,
) -> Result<AppendOutcome, StoreError> {
    if stored_fingerprint == key.fingerprint {
        Ok(AppendOutcome {
            replayed: true,
            ..outcome
        })
    } else {
        Err(StoreError::IdempotencyKeyReused(key.key.clone()))
    }
}

fn insert_error(error: rusqlite::Error, event_id: Uuid) -> StoreError {
    let duplicate_id = matches!(
        &error,
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                && message.contains("events.event_id")
    );
    if duplicate_id {
        StoreError::DuplicateEventId(event_id)
    } else {
        storage(error)
    }
}

/// Copies the WAL into the database file every `every` in which this process committed
/// something, on a connection of its own, until the writer stops (which checkpoints on its
/// way out); a checkpoint that could not finish is tried again at the next tick. PASSIVE: it
/// waits for no reader and no writer. Ends as soon as the writer does, not a tick later.
async fn checkpoint_regularly(
    path: PathBuf,
    mut committed: watch::Receiver<Position>,
    every: Duration,
    cycle: WalCycle,
) {
    let mut checkpointed = *committed.borrow_and_update();
    // Opened at the first checkpoint and kept, rather than opened every interval.
    let mut connection: Option<Connection> = None;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate.
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = committed.changed() => match changed {
                Ok(()) => continue,
                // The writer is gone.
                Err(_) => return,
            },
        }
        let position = *committed.borrow_and_update();
        if position == checkpointed {
            continue;
        }
        let (path, cycle, held) = (path.clone(), cycle.clone(), connection.take());
        let ran = run_blocking(move || {
            let connection = match held {
                Some(connection) => connection,
                None => Connection::open(&path).map_err(storage)?,
            };
            let complete = report("PASSIVE", cycle.checkpoint(&connection));
            Ok((connection, complete))
        })
        .await;
        match ran {
            Ok((held, complete)) => {
                connection = Some(held);
                if complete {
                    checkpointed = position;
                }
            }
            Err(error) => tracing::warn!(%error, "event store checkpoint failed"),
        }
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)`, logs how far it got and says whether it copied the
/// whole WAL; one that cannot finish (another connection reading) is left to a later one.
fn checkpoint(connection: &Connection, mode: &str) -> bool {
    report(mode, wal::checkpoint(connection, mode))
}

/// Logs how far a checkpoint got and says whether it copied the whole WAL. A passive one that
/// a reader held back is routine under load (the next one copies the rest): logged at debug.
fn report(mode: &str, result: rusqlite::Result<Checkpointed>) -> bool {
    match result {
        Ok(checkpointed) if checkpointed.complete() => {
            let Checkpointed { frames, copied, .. } = checkpointed;
            tracing::debug!(mode, frames, copied, "event store checkpointed");
            true
        }
        Ok(Checkpointed { frames, copied, .. }) if mode == "PASSIVE" => {
            tracing::debug!(mode, frames, copied, "event store checkpoint incomplete");
            false
        }
        Ok(Checkpointed { frames, copied, .. }) => {
            tracing::warn!(
                mode,
                frames,
                copied,
                "event store checkpoint incomplete: another connection is reading"
            );
            false
        }
        Err(error) => {
            tracing::warn!(mode, %error, "event store checkpoint failed");
            false
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

enum Target {
    All,
    Stream(StreamName),
}

struct SubscriptionState {
    readers: Arc<ReadPool>,
    committed: watch::Receiver<Position>,
    target: Target,
    /// The position (or stream revision) of the next event to deliver.
    next: u64,
}

impl SubscriptionState {
    /// The next page of events (never empty), or `None` once the store is closed. Every
    /// event is read from storage by position, so catching up and following live are the
    /// same loop: no gap, no duplicate at the hand-over. One page at a time, so a slow
    /// consumer costs bounded memory.
    async fn next_page(&mut self) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        loop {
            // Marked before reading: a commit landing after the read still wakes us below.
            self.committed.mark_unchanged();
            let page = match self.read_page().await {
                Err(StoreError::Closed) => return Ok(None),
                page => page?,
            };
            if let Some(last) = page.last() {
                self.next = match self.target {
                    Target::All => last.position.0,
                    Target::Stream(_) => last.revision.0,
                }
                .saturating_add(1);
                return Ok(Some(page));
            }
            match tokio::time::timeout(FOREIGN_WRITE_POLL, self.committed.changed()).await {
                // Something was committed here, or it is time to look for other processes'.
                Ok(Ok(())) | Err(_) => {}
                Ok(Err(_)) => return Ok(None),
            }
        }
    }

    async fn read_page(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let from = i64::try_from(self.next).unwrap_or(i64::MAX);
        let page = limit(SUBSCRIPTION_PAGE);
        match &self.target {
            Target::All => {
                self.readers
                    .run(move |connection| {
                        query_stored(connection, READ_ALL_FORWARD, params![from, page])
                    })
                    .await
            }
            Target::Stream(stream) => {
                let stream = stream.clone();
                self.readers
                    .run(move |connection| {
                        query_stored(
                            connection,
                            READ_STREAM_FORWARD,
                            params![stream.as_str(), from, page],
                        )
                    })
                    .await
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::Storage(format!("storage task failed: {error}")))?
}

/// The guarded data stays consistent even if a holder panicked, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn storage(error: rusqlite::Error) -> StoreError {
    StoreError::Storage(error.to_string())
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Storage(format!("{value} is too large to store")))
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative revision or position {value}")))
}

fn to_json(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Storage(format!("cannot encode json: {error}")))
}

/// How long [`copy_database`] waits, in all, for a source another connection holds locked.
pub const COPY_WAIT: Duration = Duration::from_secs(30);

/// Copies the SQLite database at `from` to `to` (a new or empty file) in one read
/// transaction: a consistent snapshot even while another process writes `from`, which WAL mode
/// lets go on. A source locked by a writer (a rollback-journal file such as the vault) is
/// retried until [`COPY_WAIT`] has passed, then the copy fails: it never returns a partial one.
pub fn copy_database(from: &Path, to: &Path) -> Result<(), StoreError> {
    let failed = |error: &dyn fmt::Display| {
        StoreError::Storage(format!(
            "cannot copy {} to {}: {error}",
            from.display(),
            to.display()
        ))
    };
    let open = || -> rusqlite::Result<(Connection, Connection)> {
        let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        source.busy_timeout(BUSY_TIMEOUT)?;
        let target = Connection::open(to)?;
        target.busy_timeout(BUSY_TIMEOUT)?;
        Ok((source, target))
    };
    let (source, mut target) = open().map_err(|error| failed(&error))?;
    let backup =
        rusqlite::backup::Backup::new(&source, &mut target).map_err(|error| failed(&error))?;
    let deadline = std::time::Instant::now() + COPY_WAIT;
    loop {
        // Busy and Locked come back as results, not errors: the pages are not copied yet.
        match backup.step(-1).map_err(|error| failed(&error))? {
            rusqlite::backup::StepResult::Done => return Ok(()),
            rusqlite::backup::StepResult::More => {}
            busy if std::time::Instant::now() >= deadline => {
                return Err(failed(&format!(
                    "the source stayed locked for {} s ({busy:?})",
                    COPY_WAIT.as_secs()
                )));
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{ExpectedRevision, NewEvent};

    /// A batch that cannot commit (here: another connection holds the write lock past the
    /// busy timeout, as a full disk would fail it) fails the store's check until one commits.
    #[tokio::test]
    async fn the_check_fails_while_the_writer_cannot_commit() {
        let store = SqliteEventStore::open_temporary().await.expect("opens");
        store.append(append(1)).await.expect("appends");
        store.check().await.expect("serves");
        let blocker = Connection::open(store.path()).expect("opens");
        blocker
            .execute_batch("BEGIN IMMEDIATE")
            .expect("takes the write lock");
        store
            .append(append(2))
            .await
            .expect_err("no commit while another holds the lock");
        let failing = store.check().await.expect_err("not serving");
        assert!(
            failing.to_string().contains("failed to commit"),
            "{failing}"
        );
        blocker.execute_batch("ROLLBACK").expect("lets go");
        store.append(append(3)).await.expect("appends again");
        store.check().await.expect("serves again");
        store.close().await;
        let closed = store.check().await.expect_err("closed");
        assert!(matches!(closed, StoreError::Closed), "{closed}");
    }

    #[tokio::test]
    async fn many_readers_at_once_share_a_few_connections() {
        let store = SqliteEventStore::open_temporary().await.expect("opens");
        let readers = Arc::clone(&store.inner.readers);
        let (reading, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads = (0..64).map(|_| {
            let (reading, most) = (Arc::clone(&reading), Arc::clone(&most));
            readers.run(move |connection| {
                let now = reading.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                connection
                    .query_row("SELECT COUNT(*) FROM events", [], |row| {
                        row.get::<_, i64>(0)
                    })
                    .map_err(storage)?;
                std::thread::sleep(Duration::from_millis(5));
                reading.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        });
        futures::future::try_join_all(reads).await.expect("reads");
        assert!(most.load(Ordering::SeqCst) <= MAX_READERS);
        assert!(lock(&readers.idle).len() <= MAX_READERS);
    }

    #[tokio::test]
    async fn kept_read_statements_are_not_compiled_again_for_each_read() {
        let store = SqliteEventStore::open_temporary().await.expect("opens");
        store.append(append(1)).await.expect("appends");
        let stream = StreamName::new("order-1").expect("valid");
        let recompiled = store
            .inner
            .readers
            .run(move |connection| {
                for max_count in [1, 2, 3] {
                    read_stream_page(connection, &stream, Direction::Forward, 0, max_count)?;
                }
                let statement = connection
                    .prepare_cached(&format!(
                        "SELECT {EVENT_COLUMNS} FROM events WHERE stream = ?1 AND revision >= ?2 \
                         ORDER BY revision ASC LIMIT ?3"
                    ))
                    .map_err(storage)?;
                Ok((
                    statement.get_status(rusqlite::StatementStatus::VmStep),
                    statement.get_status(rusqlite::StatementStatus::RePrepare),
                ))
            })
            .await
            .expect("reads");
        let (steps, recompiled) = recompiled;
        assert!(steps > 0, "the statement the reads kept");
        assert_eq!(recompiled, 0);
    }

    #[tokio::test]
    async fn reads_past_a_kept_end_ask_nothing_of_sqlite() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("events.db");
        // Written before this store opened: it may hold the stream, but knows no end of it.
        let unknown = StreamName::new("order-3").expect("valid");
        let earlier = SqliteEventStore::open(&path).await.expect("opens");
        let request = AppendRequest {
            stream: unknown.clone(),
            ..append(0)
        };
        earlier.append(request).await.expect("appends");
        earlier.close().await;
        let store = SqliteEventStore::open_with(&path, Sharing::Exclusive)
            .await
            .expect("opens");
        store.append(append(0)).await.expect("appends");
        let (written, read) = (
            StreamName::new("order-1").expect("valid"),
            StreamName::new("order-2").expect("valid"),
        );
        let nothing = store
            .read_stream(&read, Direction::Forward, ReadFrom::Start, 10)
            .await
            .expect("reads");
        assert!(nothing.is_empty());
        // Without read connections, only what the store kept can answer.
        store.inner.readers.close();
        let after = ReadFrom::At(StreamRevision(1));
        let past_the_end = store
            .read_stream(&written, Direction::Forward, after, 10)
            .await;
        assert!(past_the_end.expect("answered").is_empty());
        let revision = |stream: StreamName| {
            let store = store.clone();
            async move { store.stream_revision(&stream).await }
        };
        assert_eq!(
            revision(written.clone()).await.expect("answered"),
            Some(StreamRevision(0))
        );
        assert_eq!(revision(read).await.expect("answered"), None);
        assert!(matches!(revision(unknown).await, Err(StoreError::Closed)));
        let not_past_the_end = store
            .read_stream(&written, Direction::Forward, ReadFrom::Start, 10)
            .await;
        assert!(matches!(not_past_the_end, Err(StoreError::Closed)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_short_under_a_steady_stream_of_commits() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("events.db");
        let wal = dir.path().join("events.db-wal");
        let every = Duration::from_millis(20);
        let store = SqliteEventStore::open_inner(path, Sharing::Exclusive, None, every)
            .await
            .expect("opens");
        let page = serde_json::json!({ "page": "x".repeat(3_500) });
        // About 8,000 pages in all: the writer commits during nearly every regular checkpoint,
        // so unless it starts the WAL afresh itself, the WAL grows on to the backstop.
        let appenders = (0..16).map(|_| {
            let (store, page) = (store.clone(), page.clone());
            tokio::spawn(async move {
                for _ in 0..400 {
                    let mut request = append(0);
                    request.events[0].data = page.clone();
                    store.append(request).await.expect("appended");
                }
            })
        });
        let appending = futures::future::join_all(appenders);
        tokio::pin!(appending);
        let mut longest = 0;
        loop {
            tokio::select! {
                done = &mut appending => {
                    done.into_iter().for_each(|appended| appended.expect("no panic"));
                    break;
                }
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
            longest = longest.max(std::fs::metadata(&wal).map_or(0, |wal| wal.len()));
        }
        let bound = u64::try_from(wal::BACKSTOP_PAGES / 2).expect("positive") * 4096;
        assert!(longest < bound, "the WAL reached {longest} bytes");
        store.close().await;
    }

    fn key(request_id: &str) -> IdempotencyKey {
        IdempotencyKey {
            key: request_id.to_owned(),
            fingerprint: "f".to_owned(),
        }
    }

    #[tokio::test]
    async fn a_new_request_to_a_new_stream_asks_nothing_of_sqlite() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("events.db");
        let used = AppendRequest {
            idempotency: Some(key("request-1")),
            ..append(0)
        };
        let earlier = SqliteEventStore::open_with(&path, Sharing::Exclusive)
            .await
            .expect("opens");
        earlier.append(used.clone()).await.expect("appends");
        earlier.close().await;
        // What the file holds is read as the store opens.
        let store = SqliteEventStore::open_with(&path, Sharing::Exclusive)
            .await
            .expect("opens");
        let written_now = AppendRequest {
            stream: StreamName::new("order-2").expect("valid"),
            idempotency: Some(key("request-2")),
            ..append(1)
        };
        store.append(written_now).await.expect("appends");
        // Without read connections, only what the store keeps can answer.
        store.inner.readers.close();
        let new_stream = StreamName::new("order-3").expect("valid");
        let (replayed, events) = store
            .find_idempotent_outcome_then_read(&key("request-3"), &new_stream, ReadFrom::Start, 10)
            .await
            .expect("answered from memory");
        assert!(replayed.is_none() && events.is_empty());
        assert_eq!(
            store.stream_revision(&new_stream).await.expect("answered"),
            None
        );
        for retried in ["request-1", "request-2"] {
            let asked = store.find_idempotent_outcome(&key(retried)).await;
            assert!(matches!(asked, Err(StoreError::Closed)), "{retried}");
        }
        let order_1 = StreamName::new("order-1").expect("valid");
        let asked = store
            .read_stream(&order_1, Direction::Forward, ReadFrom::Start, 10)
            .await;
        assert!(matches!(asked, Err(StoreError::Closed)));
    }

    #[tokio::test]
    async fn a_shared_store_asks_sqlite_whether_a_request_is_new() {
        let store = SqliteEventStore::open_temporary_with(Sharing::Shared)
            .await
            .expect("opens");
        store.inner.readers.close();
        let asked = store.find_idempotent_outcome(&key("request-1")).await;
        assert!(matches!(asked, Err(StoreError::Closed)));
    }

    fn append(n: u64) -> AppendRequest {
        AppendRequest {
            stream: StreamName::new("order-1").expect("valid"),
            expected: ExpectedRevision::Any,
            events: vec![NewEvent {
                id: Uuid::new_v4(),
                event_type: "test-event".to_owned(),
                schema_version: 1,
                data: serde_json::json!({ "n": n }),
                metadata: serde_json::json!({}),
            }],
            idempotency: None,
        }
    }

    #[tokio::test]
    async fn regular_checkpoints_end_when_the_writer_does() {
        let (writer, committed) = watch::channel(Position(0));
        let every = Duration::from_secs(3600);
        let task = tokio::spawn(checkpoint_regularly(
            PathBuf::new(),
            committed,
            every,
            WalCycle::default(),
        ));
        drop(writer);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("ended at once")
            .expect("did not panic");
    }

    #[tokio::test]
    async fn a_checkpoint_a_reader_held_back_is_retried_without_a_new_commit() {
        let store = SqliteEventStore::open_temporary().await.expect("opens");
        store.append(append(0)).await.expect("appended");
        let task = tokio::spawn(checkpoint_regularly(
            store.path().to_owned(),
            store.inner.committed.clone(),
            Duration::from_millis(50),
            WalCycle::default(),
        ));
        // A snapshot taken before the second commit keeps checkpoints from copying it.
        let reader = Connection::open(store.path()).expect("opens");
        reader
            .execute_batch("BEGIN; SELECT COUNT(*) FROM events;")
            .expect("snapshot");
        store.append(append(1)).await.expect("appended");
        tokio::time::sleep(Duration::from_millis(300)).await;
        reader.execute_batch("COMMIT").expect("released");

        // The database file alone, without its WAL, holds both events once a checkpoint has
        // run again with no new commit. Copies are retried for a while: one taken while a
        // checkpoint writes can be torn, and a loaded machine runs the task late.
        let copy = tempfile::tempdir().expect("temporary directory");
        let mut events = 0;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::fs::copy(store.path(), copy.path().join("events.db")).expect("copied");
            let counted = Connection::open(copy.path().join("events.db")).and_then(|copy| {
                copy.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
            });
            events = counted.unwrap_or(0);
            if events == 2 {
                break;
            }
        }
        assert_eq!(events, 2);
        task.abort();
    }
}
