use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use futures::StreamExt;
use plg_eventstore::{
    Direction, EventStore, Position, ReadFrom, RecordedEvent, StoreError, sqlite::copy_database,
};
use rusqlite::Connection;
use tokio::{sync::watch, task::JoinSet};

use crate::{Projection, ResearchDb, event::LogEvent, projections};

/// Events applied in one transaction at most: bounds a transaction's size during catch-up.
const BATCH: usize = 512;

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
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The log position the rebuilt view is current to.
    pub position: Position,
    /// Events left out because they cannot be read or decoded (each logged at `error`).
    pub skipped: BTreeSet<Position>,
}

/// Every projection of the research view, following the log.
#[derive(Debug)]
pub struct Projections {
    store: Arc<dyn EventStore>,
    db: ResearchDb,
    projections: Vec<Arc<dyn Projection>>,
    checkpoints: Arc<Mutex<BTreeMap<&'static str, Position>>>,
    progress: watch::Sender<Position>,
}

impl Projections {
    /// Opens (creating if needed) the research database at `path`.
    pub fn open(
        store: Arc<dyn EventStore>,
        path: impl AsRef<Path>,
    ) -> Result<Self, ProjectionError> {
        let projections = projections::all();
        let refs: Vec<&dyn Projection> = projections.iter().map(|p| p.as_ref()).collect();
        let db = ResearchDb::open(path, &refs)?;
        let connection = db.write_connection()?;
        let checkpoints = projections
            .iter()
            .map(|projection| {
                Ok((
                    projection.name(),
                    checkpoint(&connection, projection.name())?,
                ))
            })
            .collect::<Result<BTreeMap<_, _>, ProjectionError>>()?;
        let lowest = checkpoints.values().min().copied().unwrap_or_default();
        Ok(Self {
            store,
            db,
            projections,
            checkpoints: Arc::new(Mutex::new(checkpoints)),
            progress: watch::Sender::new(lowest),
        })
    }

    pub fn db(&self) -> &ResearchDb {
        &self.db
    }

    /// The position up to which the whole view is current, as it advances.
    pub fn progress(&self) -> watch::Receiver<Position> {
        self.progress.subscribe()
    }

    /// Follows the log until `shutdown` completes. A projection that fails stops and is
    /// logged; the others go on, and the view's position stays at the failed one's checkpoint.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for projection in &self.projections {
            let follower = Follower {
                projection: projection.clone(),
                store: self.store.clone(),
                db: self.db.clone(),
                checkpoints: self.checkpoints.clone(),
                progress: self.progress.clone(),
            };
            tasks.spawn(follower.follow(stopped.clone()));
        }
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        while let Some(finished) = tasks.join_next().await {
            match finished {
                Ok((name, Ok(()))) => tracing::debug!(projection = name, "projection stopped"),
                Ok((name, Err(error))) => {
                    tracing::error!(projection = name, %error, "projection failed")
                }
                Err(error) => tracing::error!(%error, "projection task panicked"),
            }
        }
    }
}

#[derive(Debug)]
struct Follower {
    projection: Arc<dyn Projection>,
    store: Arc<dyn EventStore>,
    db: ResearchDb,
    checkpoints: Arc<Mutex<BTreeMap<&'static str, Position>>>,
    progress: watch::Sender<Position>,
}

impl Follower {
    async fn follow(
        self,
        mut stop: watch::Receiver<bool>,
    ) -> (&'static str, Result<(), ProjectionError>) {
        let name = self.projection.name();
        (name, self.follow_until(&mut stop).await)
    }

    async fn follow_until(&self, stop: &mut watch::Receiver<bool>) -> Result<(), ProjectionError> {
        let connection = Arc::new(Mutex::new(self.db.write_connection()?));
        let start = checkpoint(&lock(&connection), self.projection.name())?;
        let after = (start > Position(0)).then_some(start);
        let mut events = self.store.subscribe_to_all(after).ready_chunks(BATCH);
        tracing::info!(
            projection = self.projection.name(),
            from = start.0,
            "projection following the log"
        );
        loop {
            let batch = tokio::select! {
                batch = events.next() => batch,
                _ = stop.wait_for(|stop| *stop) => return Ok(()),
            };
            let Some(batch) = batch else { return Ok(()) };
            let batch = batch.into_iter().collect::<Result<Vec<_>, _>>()?;
            let (projection, connection) = (self.projection.clone(), connection.clone());
            // Skipped events are logged as they are met; following, there is no one to tell.
            let position = tokio::task::spawn_blocking(move || {
                let mut skipped = BTreeSet::new();
                apply(
                    projection.as_ref(),
                    &mut lock(&connection),
                    &batch,
                    &mut skipped,
                )
            })
            .await
            .map_err(|error| ProjectionError::Task(error.to_string()))??;
            self.publish(position);
        }
    }

    fn publish(&self, position: Position) {
        let mut checkpoints = self
            .checkpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        checkpoints.insert(self.projection.name(), position);
        let lowest = checkpoints.values().min().copied().unwrap_or_default();
        self.progress.send_if_modified(|current| {
            let advanced = lowest > *current;
            if advanced {
                *current = lowest;
            }
            advanced
        });
    }
}

fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn checkpoint(connection: &Connection, name: &str) -> Result<Position, ProjectionError> {
    let position: i64 = connection.query_row(
        "SELECT position FROM projection_checkpoints WHERE projection = ?1",
        [name],
        |row| row.get(0),
    )?;
    Ok(Position(u64::try_from(position).unwrap_or(0)))
}

/// Applies a batch and moves the checkpoint past it, in one transaction: exactly once.
/// An event that cannot be read or decoded is skipped (and logged), so that one damaged
/// event does not stop the view; the positions skipped are added to `skipped`. A failure to
/// write the view still fails the batch.
fn apply(
    projection: &dyn Projection,
    connection: &mut Connection,
    batch: &[RecordedEvent],
    skipped: &mut BTreeSet<Position>,
) -> Result<Position, ProjectionError> {
    let transaction = connection.transaction()?;
    let mut last = None;
    for recorded in batch {
        match LogEvent::decode(recorded) {
            Ok(event) => projection.apply(&transaction, &event)?,
            Err(error) => {
                tracing::error!(
                    projection = projection.name(),
                    stream = %recorded.stream,
                    revision = recorded.revision.0,
                    position = recorded.position.0,
                    %error,
                    "event skipped: it cannot be projected"
                );
                skipped.insert(recorded.position);
            }
        }
        last = Some(recorded.position);
    }
    let position = last.unwrap_or_default();
    transaction.execute(
        "UPDATE projection_checkpoints SET position = ?2 WHERE projection = ?1",
        (
            projection.name(),
            i64::try_from(position.0).unwrap_or(i64::MAX),
        ),
    )?;
    transaction.commit()?;
    Ok(position)
}

/// Rebuilds projections from the start of the log: drops their tables, then applies every
/// event up to the current end. `names` empty means all. Run it while the view has no other
/// owner. All or nothing: the rebuild works on a copy beside `path` and replaces the view
/// only once it has succeeded, so a failure leaves the previous view as it was.
/// Events that cannot be read or decoded are skipped, not a failure: the view is then as
/// current as the log allows, and the result says which positions it left out.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    path: impl AsRef<Path>,
    names: &[String],
) -> Result<Rebuilt, ProjectionError> {
    let projections = projections::all();
    if let Some(unknown) = names
        .iter()
        .find(|name| !projections.iter().any(|p| p.name() == name.as_str()))
    {
        return Err(ProjectionError::Unknown(unknown.clone()));
    }
    let path = path.as_ref();
    let mut staging = path.as_os_str().to_owned();
    staging.push(".rebuilding");
    let staging = PathBuf::from(staging);
    // Left by a rebuild that was killed: never part of the view.
    remove_database(&staging)?;
    let rebuilt = async {
        if path.exists() {
            copy_database(path, &staging)?;
        }
        rebuild_in(store, &staging, &projections, names).await
    }
    .await;
    match rebuilt {
        // Every connection to the copy is closed by now, so its WAL is folded into it.
        Ok(rebuilt) => std::fs::rename(&staging, path)
            .map(|()| rebuilt)
            .map_err(ProjectionError::Io),
        Err(error) => {
            remove_database(&staging)?;
            Err(error)
        }
    }
}

async fn rebuild_in(
    store: Arc<dyn EventStore>,
    path: &Path,
    projections: &[Arc<dyn Projection>],
    names: &[String],
) -> Result<Rebuilt, ProjectionError> {
    let refs: Vec<&dyn Projection> = projections.iter().map(|p| p.as_ref()).collect();
    let db = ResearchDb::open(path, &refs)?;
    let mut connection = db.write_connection()?;
    let mut position = Position(0);
    let mut skipped = BTreeSet::new();
    for projection in projections
        .iter()
        .filter(|p| names.is_empty() || names.iter().any(|n| n == p.name()))
    {
        db.reset(projection.as_ref())?;
        let mut from = ReadFrom::Start;
        loop {
            let batch = store.read_all(Direction::Forward, from, BATCH).await?;
            let Some(last) = batch.last().map(|event| event.position) else {
                break;
            };
            apply(projection.as_ref(), &mut connection, &batch, &mut skipped)?;
            from = ReadFrom::At(Position(last.0 + 1));
            position = position.max(last);
        }
        tracing::info!(
            projection = projection.name(),
            position = position.0,
            "projection rebuilt"
        );
    }
    Ok(Rebuilt { position, skipped })
}

/// Removes a database file and its WAL companions, if there.
fn remove_database(path: &Path) -> Result<(), ProjectionError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::remove_file(PathBuf::from(file)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(ProjectionError::Io(error));
            }
            _ => {}
        }
    }
    Ok(())
}
