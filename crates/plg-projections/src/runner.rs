use std::{collections::BTreeSet, path::Path, sync::Arc, time::Duration};

use futures::StreamExt;
use plg_eventstore::{EventStore, Position, StoreError};
use rusqlite::Connection;
use tokio::sync::watch;

use crate::{
    Projection, ResearchDb,
    batch::{self, Cursor},
    projections,
};

/// Events applied in one transaction at most: bounds a transaction's size during catch-up.
const BATCH: usize = 512;

/// How often the view's write-ahead log is folded into its file while the view advances.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL pages after which the follower checkpoints in its own commit (SQLite's default is
/// 1,000): reached only if `fold_log` falls behind.
const FOLLOWER_AUTOCHECKPOINT: i64 = 10_000;

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

/// Every projection of the research view, following the log.
#[derive(Debug)]
pub struct Projections {
    store: Arc<dyn EventStore>,
    db: ResearchDb,
    cursors: Vec<Cursor>,
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
        let folding = tokio::spawn(fold_log(
            self.db.clone(),
            self.progress.subscribe(),
            stopped.clone(),
        ));
        let follower = Follower {
            store: self.store,
            db: self.db,
            progress: self.progress,
        };
        match follower.follow(self.cursors, &mut stopped).await {
            Ok(()) => tracing::debug!("projections stopped"),
            Err(error) => tracing::error!(%error, "projections failed"),
        }
        folding.abort();
    }
}

#[derive(Debug)]
struct Follower {
    store: Arc<dyn EventStore>,
    db: ResearchDb,
    progress: watch::Sender<Position>,
}

/// The follower's writer, handed to a blocking task for each batch and back.
#[derive(Debug)]
struct Writer {
    connection: Connection,
    /// The projections still following the log.
    following: Vec<Cursor>,
}

impl Follower {
    async fn follow(
        &self,
        cursors: Vec<Cursor>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ProjectionError> {
        let connection = self.db.write_connection()?;
        // `fold_log` checkpoints beside it; this is only the backstop should it fall behind.
        connection.pragma_update(None, "wal_autocheckpoint", FOLLOWER_AUTOCHECKPOINT)?;
        let mut writer = Writer {
            connection,
            following: cursors,
        };
        // Where a failed projection stopped: the view's position stays there.
        let mut stalled: Option<Position> = None;
        let start = lowest(&writer.following).unwrap_or_default();
        let after = (start > Position(0)).then_some(start);
        let mut events = self.store.subscribe_to_all(after).ready_chunks(BATCH);
        tracing::info!(from = start.0, "projections following the log");
        loop {
            let batch = tokio::select! {
                batch = events.next() => batch,
                _ = stop.wait_for(|stop| *stop) => return Ok(()),
            };
            let Some(batch) = batch else { return Ok(()) };
            let batch = batch.into_iter().collect::<Result<Vec<_>, _>>()?;
            let (returned, failed) = tokio::task::spawn_blocking(move || {
                // Skipped events are logged as they are met; following, there is no one to tell.
                let failed = batch::decode(batch, &mut BTreeSet::new())
                    .map(|batch| {
                        batch::apply(&mut writer.connection, &mut writer.following, &batch)
                    })
                    .transpose();
                (writer, failed)
            })
            .await
            .map_err(|error| ProjectionError::Task(error.to_string()))?;
            writer = returned;
            // Removed from the last, so the indices of the others stay valid.
            for failure in failed?.unwrap_or_default().into_iter().rev() {
                let cursor = writer.following.remove(failure.index);
                tracing::error!(
                    projection = cursor.projection.name(),
                    error = %failure.error,
                    "projection failed"
                );
                stalled = Some(stalled.map_or(cursor.checkpoint, |at| at.min(cursor.checkpoint)));
            }
            if writer.following.is_empty() {
                return Ok(());
            }
            self.publish(lowest(&writer.following).into_iter().chain(stalled).min());
        }
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

/// Folds the view's write-ahead log into its file every `CHECKPOINT_EVERY` while the view
/// advances, on a connection of its own: a checkpoint syncs the file, and in the follower's
/// commit it would hold up every write waiting for the view. A passive checkpoint waits for
/// no one; the follower commits on meanwhile.
async fn fold_log(
    db: ResearchDb,
    mut progress: watch::Receiver<Position>,
    mut stop: watch::Receiver<bool>,
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
        let folded = tokio::task::spawn_blocking(move || {
            let folded = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            (connection, folded)
        })
        .await;
        match folded {
            Ok((returned, folded)) => {
                connection = returned;
                if let Err(error) = folded {
                    tracing::warn!(%error, "research view checkpoint failed");
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
