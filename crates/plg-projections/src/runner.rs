use std::{
    collections::BTreeSet,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use plg_eventstore::{
    EventStore, Position, StoreError, StoredEvent,
    wal::{self, WalCycle},
};
use rusqlite::Connection;
use tokio::sync::{mpsc, watch};

use crate::{
    Projection, ResearchDb,
    batch::{self, Cursor},
    projections,
    telemetry::{self, FOLLOWERS, LAG},
};

/// Events after which a batch takes no further page of the log: bounds a transaction's size
/// during catch-up (a batch holds at most this and one page less one event).
const BATCH: usize = 512;

/// Pages of the log read ahead of the follower.
const PAGES_AHEAD: usize = 2;

/// How often the view's write-ahead log is folded into its file while the view advances.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("research database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("event at position {position} cannot be projected: {message}")]
    Decode { position: Position, message: String },
    #[error("unknown projection {0:?}")]
    Unknown(String),
    #[error("research view file: {0}")]
    Io(std::io::Error),
    #[error("projection task failed: {0}")]
    Task(String),
    #[error(
        "the checkpoint of projection {projection:?} is no longer at {expected}: another writer moved it"
    )]
    Fenced {
        projection: String,
        expected: Position,
    },
}

/// Every projection of the research view, following the log.
#[derive(Debug)]
pub struct Projections {
    store: Arc<dyn EventStore>,
    db: ResearchDb,
    cursors: Vec<Cursor>,
    progress: Arc<watch::Sender<Position>>,
    /// True until the follower stops, asked to or not.
    following: Arc<AtomicBool>,
}

impl Projections {
    /// Opens (creating if needed) the research database at `path`.
    pub fn open(
        store: Arc<dyn EventStore>,
        path: impl AsRef<Path>,
    ) -> Result<Self, ProjectionError> {
        let projections = projections::all();
        let refs: Vec<&dyn Projection> = projections.iter().map(|p| p.as_ref()).collect();
        let db = ResearchDb::open_following(path, &refs, store.log())?;
        let connection = db.write_connection()?;
        let cursors = projections
            .into_iter()
            .map(|projection| {
                let checkpoint = checkpoint(&connection, projection.name())?;
                Ok(Cursor {
                    projection,
                    checkpoint,
                })
            })
            .collect::<Result<Vec<_>, ProjectionError>>()?;
        let lowest = lowest(&cursors).unwrap_or_default();
        Ok(Self {
            store,
            db,
            cursors,
            progress: Arc::new(watch::Sender::new(lowest)),
            following: Arc::new(AtomicBool::new(true)),
        })
    }

    pub fn db(&self) -> &ResearchDb {
        &self.db
    }

    /// Whether the follower still runs (or has yet to start): false once [`Projections::run`]
    /// has returned, asked to stop or not.
    pub fn following(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let following = Arc::clone(&self.following);
        move || following.load(Ordering::Relaxed)
    }

    /// The position up to which the whole view is current, as it advances.
    pub fn progress(&self) -> watch::Receiver<Position> {
        self.progress.subscribe()
    }

    /// Follows the log until `shutdown` completes: one reader of the log and one writer of the
    /// view, applying each batch to every projection in one transaction. A projection that
    /// fails stops and is logged; the others go on, and the view's position stays at the failed
    /// one's checkpoint. A transaction that cannot commit (a full disk) stops them all.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        telemetry::observe_lag();
        let cycle = WalCycle::default();
        let folding = tokio::spawn(fold_log(
            self.db.clone(),
            self.progress.subscribe(),
            stopped.clone(),
            cycle.clone(),
        ));
        let start = lowest(&self.cursors).unwrap_or_default();
        let after = (start > Position(0)).then_some(start);
        // The log is read ahead, as stored text, while a batch is applied.
        let (ahead, pages) = mpsc::channel(PAGES_AHEAD);
        let reading = tokio::spawn(read_ahead(self.store.subscribe_to_all_stored(after), ahead));
        tracing::info!(from = start.0, "projections following the log");
        let follower = Follower {
            db: self.db,
            progress: self.progress,
            cycle,
        };
        FOLLOWERS.fetch_add(1, Ordering::Relaxed);
        match follower.follow(self.cursors, pages, &mut stopped).await {
            Ok(()) => tracing::debug!("projections stopped"),
            Err(error) => tracing::error!(%error, "projections failed"),
        }
        FOLLOWERS.fetch_sub(1, Ordering::Relaxed);
        self.following.store(false, Ordering::Relaxed);
        folding.abort();
        reading.abort();
    }
}

#[derive(Debug)]
struct Follower {
    db: ResearchDb,
    progress: Arc<watch::Sender<Position>>,
    cycle: WalCycle,
}

/// The follower's writer, handed to a blocking task for each batch and back.
#[derive(Debug)]
struct Writer {
    connection: Connection,
    /// The projections still following the log.
    following: Vec<Cursor>,
    /// Where a failed projection stopped: the view's position stays there.
    stalled: Option<Position>,
    progress: Arc<watch::Sender<Position>>,
    cycle: WalCycle,
}

impl Follower {
    async fn follow(
        &self,
        cursors: Vec<Cursor>,
        mut pages: mpsc::Receiver<Result<Vec<StoredEvent>, StoreError>>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let connection = self.db.write_connection()?;
        // `fold_log` checkpoints beside it; its own auto-checkpoint is only the backstop.
        wal::configure_writer(&connection)?;
        let mut writer = Writer {
            connection,
            following: cursors,
            stalled: None,
            progress: Arc::clone(&self.progress),
            cycle: self.cycle.clone(),
        };
        loop {
            let received = tokio::select! {
                received = pages.recv() => received,
                _ = stop.wait_for(|stop| *stop) => return Ok(()),
            };
            let Some(page) = received else {
                return Ok(());
            };
            // The pages already read join the batch: one transaction for all of them.
            let mut events = page?;
            while events.len() < BATCH {
                match pages.try_recv() {
                    Ok(page) => events.extend(page?),
                    Err(_) => break,
                }
            }
            let (returned, applied) = tokio::task::spawn_blocking(move || {
                let applied = writer.apply(events);
                (writer, applied)
            })
            .await
            .map_err(|error| ProjectionError::Task(error.to_string()))?;
            writer = returned;
            applied?;
            if writer.following.is_empty() {
                return Ok(());
            }
        }
    }
}

impl Writer {
    /// Applies a batch, publishes the view's new position from this thread (the writes
    /// waiting for it need not wait for the hand-back to the follower's task), then, between
    /// this batch and the next, starts the WAL afresh when that is due.
    fn apply(&mut self, batch: Vec<StoredEvent>) -> Result<(), ProjectionError> {
        let (read, last_recorded) = (batch.len(), batch.last().map(|event| event.recorded_at));
        // Skipped events are logged as they are met; following, there is no one to tell.
        let Some(batch) = batch::decode(batch, &mut BTreeSet::new()) else {
            return Ok(());
        };
        let failed = telemetry::batch_span(&batch.events)
            .in_scope(|| batch::apply(&mut self.connection, &mut self.following, &batch))?;
        if let Some(last_recorded) = last_recorded {
            LAG.applied(read, last_recorded);
        }
        // Removed from the last, so the indices of the others stay valid.
        for failure in failed.into_iter().rev() {
            let cursor = self.following.remove(failure.index);
            tracing::error!(
                projection = cursor.projection.name(),
                error = %failure.error,
                "projection failed"
            );
            self.stalled = Some(
                self.stalled
                    .map_or(cursor.checkpoint, |at| at.min(cursor.checkpoint)),
            );
        }
        if self.following.is_empty() {
            return Ok(());
        }
        self.publish(
            lowest(&self.following)
                .into_iter()
                .chain(self.stalled)
                .min(),
        );
        self.cycle.restart_if_due(&self.connection, "research view");
        Ok(())
    }

    fn publish(&self, lowest: Option<Position>) {
        let Some(lowest) = lowest else { return };
        self.progress.send_if_modified(|current| {
            let advanced = lowest > *current;
            if advanced {
                *current = lowest;
            }
            advanced
        });
    }
}

/// Reads the log into `ahead` (up to `PAGES_AHEAD` pages ahead of the follower) until either
/// ends.
async fn read_ahead(
    mut log: plg_eventstore::StoredSubscription,
    ahead: mpsc::Sender<Result<Vec<StoredEvent>, StoreError>>,
) {
    while let Some(page) = log.next().await {
        if let Ok(events) = &page {
            LAG.read(events);
        }
        if ahead.send(page).await.is_err() {
            return;
        }
    }
}

/// Folds the view's write-ahead log into its file every `CHECKPOINT_EVERY` while the view
/// advances, on a connection of its own: a checkpoint syncs the file, and in the follower's
/// commit it would hold up every write waiting for the view. A passive checkpoint waits for
/// no one; the follower commits on meanwhile, and starts the WAL afresh when one of these
/// has copied a long WAL (`WalCycle`).
async fn fold_log(
    db: ResearchDb,
    mut progress: watch::Receiver<Position>,
    mut stop: watch::Receiver<bool>,
    cycle: WalCycle,
) {
    let mut connection = match db.write_connection() {
        Ok(connection) => connection,
        Err(error) => {
            tracing::warn!(%error, "the research view's log is folded by its writer only");
            return;
        }
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        if !progress.has_changed().unwrap_or(false) {
            continue;
        }
        progress.mark_unchanged();
        let cycle = cycle.clone();
        let folded = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let folded = cycle.checkpoint(&connection);
            (connection, folded, started.elapsed())
        })
        .await;
        match folded {
            Ok((returned, folded, took)) => {
                connection = returned;
                match folded {
                    Ok(folded) => tracing::debug!(
                        frames = folded.frames,
                        copied = folded.copied,
                        micros = took.as_micros(),
                        "research view checkpointed"
                    ),
                    Err(error) => tracing::warn!(%error, "research view checkpoint failed"),
                }
            }
            Err(_) => return,
        }
    }
}

/// The lowest checkpoint among `cursors`.
fn lowest(cursors: &[Cursor]) -> Option<Position> {
    cursors.iter().map(|cursor| cursor.checkpoint).min()
}

fn checkpoint(connection: &Connection, name: &str) -> Result<Position, ProjectionError> {
    let position: i64 = connection.query_row(
        "SELECT position FROM projection_checkpoints WHERE projection = ?1",
        [name],
        |row| row.get(0),
    )?;
    Ok(Position(u64::try_from(position).unwrap_or(0)))
}
